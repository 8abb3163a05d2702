"""Receipts for paid orders, as HTML and as PDF (drawn with fpdf2, so no browser or system library is needed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment, select_autoescape

from voxhub.billing.models import Payment
from voxhub.clock import as_utc


@dataclass(frozen=True)
class Receipt:
    number: str
    issued_at: datetime
    workspace_name: str
    customer_email: str | None
    description: str
    amount: str
    refunded: str | None
    provider: str
    payment_reference: str
    issuer: str


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency.upper()}"


def receipt_for(payment: Payment, *, workspace_name: str, issuer: str) -> Receipt:
    if payment.kind == "package":
        description = f"Credit package “{payment.item}”: {payment.credits:,} credits"
    else:
        description = f"Subscription: {payment.item} plan"
    return Receipt(
        number=payment.receipt_number,
        issued_at=as_utc(payment.created_at),
        workspace_name=workspace_name,
        customer_email=payment.customer_email,
        description=description,
        amount=_money(payment.amount_cents, payment.currency),
        refunded=_money(payment.refunded_cents, payment.currency) if payment.refunded_cents else None,
        provider=payment.provider,
        payment_reference=payment.external_id,
        issuer=issuer,
    )


_HTML = Environment(autoescape=select_autoescape(default=True)).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Receipt {{ r.number }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;color:#222}
table{width:100%;border-collapse:collapse}td{padding:.4rem 0;border-bottom:1px solid #ddd}
td.amount{text-align:right}</style></head>
<body>
<h1>Receipt</h1>
<p>{{ r.issuer }}</p>
<table>
<tr><td>Receipt number</td><td class="amount">{{ r.number }}</td></tr>
<tr><td>Date</td><td class="amount">{{ r.issued_at.strftime("%Y-%m-%d %H:%M UTC") }}</td></tr>
<tr><td>Workspace</td><td class="amount">{{ r.workspace_name }}</td></tr>
{% if r.customer_email %}<tr><td>Billed to</td><td class="amount">{{ r.customer_email }}</td></tr>{% endif %}
<tr><td>{{ r.description }}</td><td class="amount">{{ r.amount }}</td></tr>
{% if r.refunded %}<tr><td>Refunded</td><td class="amount">-{{ r.refunded }}</td></tr>{% endif %}
<tr><td><strong>Paid</strong></td><td class="amount"><strong>{{ r.amount }}</strong></td></tr>
</table>
<p>Paid through {{ r.provider }}, reference {{ r.payment_reference }}.</p>
</body></html>
"""
)


def render_html(receipt: Receipt) -> str:
    return _HTML.render(r=receipt)


def _latin1(text: str) -> str:
    # The PDF core fonts speak Latin-1; typographic quotes and other characters are replaced, not dropped.
    return text.replace("“", '"').replace("”", '"').encode("latin-1", "replace").decode("latin-1")


def render_pdf(receipt: Receipt) -> bytes:
    from fpdf import FPDF  # imported when a PDF is asked for: it costs every process a second at start-up

    pdf = FPDF(format="A4")
    pdf.set_title(f"Receipt {receipt.number}")
    pdf.set_creator("voxhub")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 12, "Receipt", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 8, _latin1(receipt.issuer), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    rows = [
        ("Receipt number", receipt.number),
        ("Date", receipt.issued_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("Workspace", receipt.workspace_name),
    ]
    if receipt.customer_email:
        rows.append(("Billed to", receipt.customer_email))
    rows.append((receipt.description, receipt.amount))
    if receipt.refunded:
        rows.append(("Refunded", f"-{receipt.refunded}"))
    for label, value in rows:
        pdf.cell(120, 8, _latin1(label), border="B")
        pdf.cell(0, 8, _latin1(value), border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(120, 10, "Paid")
    pdf.cell(0, 10, _latin1(receipt.amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.ln(4)
    pdf.multi_cell(0, 6, _latin1(f"Paid through {receipt.provider}, reference {receipt.payment_reference}."))
    return bytes(pdf.output())
