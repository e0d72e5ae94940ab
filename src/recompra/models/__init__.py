"""ORM models, one module per aggregate. Importing this package registers every table."""

from recompra.models import automation as automation  # registers the automation tables
from recompra.models import segments as segments  # registers the segment tables
from recompra.models import voc as voc  # registers the voice-of-the-customer tables
from recompra.models.accounts import CompanyAccount, CompanyAccountMember
from recompra.models.aftersale import Event, Return, ReturnItem, Review
from recompra.models.auth import ApiKey, DashboardUser, IdempotencyRecord
from recompra.models.base import Base
from recompra.models.brand import Brand
from recompra.models.catalog import Category, Product
from recompra.models.commercial import (
    Activity,
    ForecastBacktest,
    KeyResult,
    Lead,
    LeadScoreFit,
    MarketingSpend,
    MaturityAnswer,
    Objective,
    Opportunity,
    SalesStage,
    StageChange,
)
from recompra.models.customer import (
    BrandCustomer,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerProperty,
)
from recompra.models.engagement import (
    EngagementBadge,
    EngagementBadgeAward,
    EngagementChallenge,
    EngagementCompletion,
    EngagementExperience,
    EngagementQuiz,
    EngagementQuizAttempt,
    EngagementReferral,
    EngagementReferralCode,
    EngagementReferralSettings,
)
from recompra.models.imports import ImportRun
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyAllocation,
    LoyaltyCoalitionMember,
    LoyaltyDebt,
    LoyaltyEvent,
    LoyaltyIdempotencyKey,
    LoyaltyLot,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
    LoyaltyRuleVersion,
    LoyaltyTier,
    LoyaltyTierChange,
)
from recompra.models.measurement import JourneyTargeting, MeasurementReport, UpliftPrediction
from recompra.models.order import Order, OrderItem, Payment
from recompra.models.privacy import AuditEntry, DashboardUserRole, PrivacyRequest
from recompra.models.scores import CustomerScore
from recompra.models.security import DashboardSession, LoginFailure
from recompra.models.shopper import ShopperSession, ShopperSignInLink
from recompra.models.voc_settings import VocSetting

__all__ = [
    "Activity",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Brand",
    "BrandCustomer",
    "Category",
    "CompanyAccount",
    "CompanyAccountMember",
    "Customer",
    "CustomerIdentity",
    "CustomerMerge",
    "CustomerProperty",
    "CustomerScore",
    "DashboardSession",
    "DashboardUser",
    "DashboardUserRole",
    "EngagementBadge",
    "EngagementBadgeAward",
    "EngagementChallenge",
    "EngagementCompletion",
    "EngagementExperience",
    "EngagementQuiz",
    "EngagementQuizAttempt",
    "EngagementReferral",
    "EngagementReferralCode",
    "EngagementReferralSettings",
    "Event",
    "ForecastBacktest",
    "IdempotencyRecord",
    "ImportRun",
    "JourneyTargeting",
    "KeyResult",
    "Lead",
    "LeadScoreFit",
    "LoginFailure",
    "LoyaltyAccount",
    "LoyaltyAllocation",
    "LoyaltyCoalitionMember",
    "LoyaltyDebt",
    "LoyaltyEvent",
    "LoyaltyIdempotencyKey",
    "LoyaltyLot",
    "LoyaltyMovement",
    "LoyaltyProgram",
    "LoyaltyRedemption",
    "LoyaltyReward",
    "LoyaltyRuleVersion",
    "LoyaltyTier",
    "LoyaltyTierChange",
    "MarketingSpend",
    "MaturityAnswer",
    "MeasurementReport",
    "Objective",
    "Opportunity",
    "Order",
    "OrderItem",
    "Payment",
    "PrivacyRequest",
    "Product",
    "Return",
    "ReturnItem",
    "Review",
    "SalesStage",
    "ShopperSession",
    "ShopperSignInLink",
    "StageChange",
    "UpliftPrediction",
    "VocSetting",
]
