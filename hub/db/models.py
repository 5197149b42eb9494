"""Every mapped model, imported in one place so Alembic and the app see the whole schema."""

from hub.accounts.models import LoginAttempt, User, WebSession
from hub.audit.models import AuditEntry
from hub.auth.models import ApiToken
from hub.backoffice.models import BackofficeDelivery, Case, CaseUpdate
from hub.db.base import Base
from hub.metrics.models import PublishedPeriod, SurveyInvite
from routing.customers.models import Customer
from routing.models import Enquiry, EnquiryEvent, IntakeRejection, OutboxMessage
from tenants.agreement_models import AgreementRow
from tenants.models import Agent, AgentEvent, AgentSkill, CatalogueVersion, Service, Tenant

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentSkill",
    "AgreementRow",
    "ApiToken",
    "AuditEntry",
    "BackofficeDelivery",
    "Base",
    "Case",
    "CaseUpdate",
    "CatalogueVersion",
    "Customer",
    "Enquiry",
    "EnquiryEvent",
    "IntakeRejection",
    "LoginAttempt",
    "OutboxMessage",
    "PublishedPeriod",
    "Service",
    "SurveyInvite",
    "Tenant",
    "User",
    "WebSession",
]
