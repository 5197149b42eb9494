"""Every mapped model, imported in one place so Alembic and the app see the whole schema."""

from hub.auth.models import ApiToken
from hub.backoffice.models import BackofficeDelivery, Case, CaseUpdate
from hub.db.base import Base
from routing.models import Enquiry, EnquiryEvent, IntakeRejection, OutboxMessage
from tenants.models import Agent, AgentEvent, AgentSkill, Service, Tenant

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentSkill",
    "ApiToken",
    "BackofficeDelivery",
    "Base",
    "Case",
    "CaseUpdate",
    "Enquiry",
    "EnquiryEvent",
    "IntakeRejection",
    "OutboxMessage",
    "Service",
    "Tenant",
]
