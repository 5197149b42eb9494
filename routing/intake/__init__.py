"""Intake: contract v1 messages from partners become enquiries, or rejections with a stable code."""
