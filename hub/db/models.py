"""Every mapped model, imported in one place so Alembic and the app see the whole schema."""

from hub.accounts.models import LoginAttempt, User, WebSession
from hub.audit.models import AuditEntry
from hub.auth.models import ApiToken
from hub.db.base import Base
from routing.customers.models import Customer
from routing.models import Enquiry, EnquiryEvent, IntakeRejection, OutboxMessage
from tenants.models import Agent, AgentEvent, AgentSkill, Service, Tenant

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentSkill",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Customer",
    "Enquiry",
    "EnquiryEvent",
    "IntakeRejection",
    "LoginAttempt",
    "OutboxMessage",
    "Service",
    "Tenant",
    "User",
    "WebSession",
]
