"""Every mapped model, imported in one place so Alembic and the app see the whole schema."""

from hub.auth.models import ApiToken
from hub.db.base import Base
from routing.models import Enquiry, EnquiryEvent, IntakeRejection, OutboxMessage
from tenants.agreement_models import AgreementRow
from tenants.models import Agent, AgentSkill, Service, Tenant

__all__ = [
    "Agent",
    "AgentSkill",
    "AgreementRow",
    "ApiToken",
    "Base",
    "Enquiry",
    "EnquiryEvent",
    "IntakeRejection",
    "OutboxMessage",
    "Service",
    "Tenant",
]
