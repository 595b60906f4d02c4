"""SQLAlchemy implementations of the repository ports, one module an aggregate. Each
method is one transaction and returns domain objects (crm_core.domain.models), never rows."""

from crm_core.db.repos._base import BULK_ROWS as BULK_ROWS
from crm_core.db.repos.callbacks import CallbackRepo as CallbackRepo
from crm_core.db.repos.calls import CallRepo as CallRepo
from crm_core.db.repos.campaigns import CampaignRepo as CampaignRepo
from crm_core.db.repos.cases import CaseRepo as CaseRepo
from crm_core.db.repos.customers import CustomerRepo as CustomerRepo
from crm_core.db.repos.journal import AuditRepo as AuditRepo
from crm_core.db.repos.journal import DoNotCallRepo as DoNotCallRepo
from crm_core.db.repos.journal import SurveyRepo as SurveyRepo
from crm_core.db.repos.journal import ViolationRepo as ViolationRepo
from crm_core.db.repos.users import UserRepo as UserRepo
