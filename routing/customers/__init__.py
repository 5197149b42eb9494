"""The customer single view: one person across services and contacts, and what an agent may see of them."""
