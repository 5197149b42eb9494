"""Every mapped model, imported in one place so Alembic and the app see the whole schema."""

from hub.auth.models import ApiToken
from hub.db.base import Base
from hub.metrics.models import PublishedPeriod, SurveyInvite
from routing.models import Enquiry, EnquiryEvent, IntakeRejection, OutboxMessage
from tenants.agreement_models import AgreementRow
from tenants.models import Agent, AgentEvent, AgentSkill, CatalogueVersion, Service, Tenant

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentSkill",
    "AgreementRow",
    "ApiToken",
    "Base",
    "CatalogueVersion",
    "Enquiry",
    "EnquiryEvent",
    "IntakeRejection",
    "OutboxMessage",
    "PublishedPeriod",
    "Service",
    "SurveyInvite",
    "Tenant",
]
