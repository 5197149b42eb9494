"""Every mapped model, imported in one place so Alembic and the app see the whole schema."""

from backoffice.models import BackofficeDelivery, Case, CaseUpdate
from figures.models import PublishedPeriod, SurveyInvite
from hub.accounts.models import LoginAttempt, User, WebSession
from plumbing.audit.models import AuditEntry
from plumbing.auth.models import ApiToken
from plumbing.bus.models import OutboxMessage
from plumbing.db.base import Base
from routing.customers.models import Customer
from routing.models import Enquiry, EnquiryEvent, IntakeRejection
from tenants.agreements.models import AgreementRow, AgreementVersion, DataSharingRow
from tenants.models import Agent, AgentEvent, AgentSkill, CatalogueVersion, Service, Tenant

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentSkill",
    "AgreementRow",
    "AgreementVersion",
    "ApiToken",
    "AuditEntry",
    "BackofficeDelivery",
    "Base",
    "Case",
    "CaseUpdate",
    "CatalogueVersion",
    "Customer",
    "DataSharingRow",
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
