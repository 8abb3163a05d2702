"""Payment providers voxhub can take money through, each behind the same Provider protocol; `get_provider` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxhub.billing.providers.base import (
    EVENT_KINDS,
    Checkout,
    CheckoutRequest,
    Provider,
    ProviderError,
    ProviderEvent,
    ProviderNotConfigured,
    WebhookVerificationError,
)
from voxhub.billing.providers.dodo import DodoProvider
from voxhub.billing.providers.eway import EwayProvider
from voxhub.billing.providers.manual import ManualProvider
from voxhub.billing.providers.polar import PolarProvider
from voxhub.billing.providers.stripe import StripeProvider

if TYPE_CHECKING:
    from voxhub.config import Settings

PROVIDERS = ("stripe", "polar", "eway", "dodo", "manual")
# Providers that sell the catalog's items as their own products (product_ids.<provider> in the catalog).
PRODUCT_PROVIDERS = ("polar", "dodo")
# voxhub's own route that eWAY sends a customer back to (it asks eWAY what became of the payment).
EWAY_RETURN_PATH = "/api/v1/billing/eway/return"

__all__ = [
    "EVENT_KINDS",
    "EWAY_RETURN_PATH",
    "PRODUCT_PROVIDERS",
    "PROVIDERS",
    "Checkout",
    "CheckoutRequest",
    "DodoProvider",
    "EwayProvider",
    "ManualProvider",
    "PolarProvider",
    "Provider",
    "ProviderError",
    "ProviderEvent",
    "ProviderNotConfigured",
    "StripeProvider",
    "WebhookVerificationError",
    "configured_providers",
    "get_provider",
]


def get_provider(settings: Settings, name: str) -> Provider:
    """The provider called `name`, built from settings. ProviderNotConfigured when its keys are unset: one that
    could take a payment but not verify the webhook confirming it would take money and credit nothing."""
    if name == "stripe":
        secret_key, webhook_secret = _keys(
            name,
            VOXHUB_STRIPE_SECRET_KEY=settings.stripe_secret_key,
            VOXHUB_STRIPE_WEBHOOK_SECRET=settings.stripe_webhook_secret,
        )
        return StripeProvider(
            secret_key=secret_key,
            webhook_secret=webhook_secret,
            api_url=settings.stripe_api_url,
            tolerance_s=settings.billing_webhook_tolerance_s,
        )
    if name == "polar":
        access_token, webhook_secret = _keys(
            name,
            VOXHUB_POLAR_ACCESS_TOKEN=settings.polar_access_token,
            VOXHUB_POLAR_WEBHOOK_SECRET=settings.polar_webhook_secret,
        )
        return PolarProvider(
            access_token=access_token,
            webhook_secret=webhook_secret,
            api_url=settings.polar_api_url,
            tolerance_s=settings.billing_webhook_tolerance_s,
        )
    if name == "eway":
        api_key, api_password = _keys(
            name, VOXHUB_EWAY_API_KEY=settings.eway_api_key, VOXHUB_EWAY_API_PASSWORD=settings.eway_api_password
        )
        return EwayProvider(
            api_key=api_key,
            api_password=api_password,
            endpoint=settings.eway_endpoint,
            return_url=f"{settings.public_url}{EWAY_RETURN_PATH}",
        )
    if name == "dodo":
        api_key, webhook_secret = _keys(
            name, VOXHUB_DODO_API_KEY=settings.dodo_api_key, VOXHUB_DODO_WEBHOOK_SECRET=settings.dodo_webhook_secret
        )
        return DodoProvider(
            api_key=api_key,
            webhook_secret=webhook_secret,
            api_url=settings.dodo_api_url,
            tolerance_s=settings.billing_webhook_tolerance_s,
        )
    if name == "manual":
        return ManualProvider()
    raise ProviderNotConfigured(
        name, f"There is no billing provider called {name!r}; voxhub knows {', '.join(PROVIDERS)}."
    )


def _keys(name: str, **variables: str | None) -> list[str]:
    """The values of `variables`, in order; ProviderNotConfigured naming those unset (an empty one is unset)."""
    missing = [variable for variable, value in variables.items() if not value]
    if missing:
        raise ProviderNotConfigured(
            name, f"The {name} billing provider is not configured: set {' and '.join(missing)}."
        )
    return [value for value in variables.values() if value]


def configured_providers(settings: Settings) -> list[str]:
    """The providers this server can take payments through: those whose keys are set."""
    names = []
    for name in PROVIDERS:
        try:
            get_provider(settings, name)
        except ProviderNotConfigured:
            continue
        names.append(name)
    return names
