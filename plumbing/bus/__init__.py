"""The transport with partners: RabbitMQ through pika, or an in-process bus when embedded."""
