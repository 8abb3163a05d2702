"""Billing: plans, credit packages, the credit ledger, quotas, rate limits and payment providers."""
