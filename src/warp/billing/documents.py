"""Invoice documents: a PDF (fpdf2) and a CSV of the lines."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

from fpdf import FPDF

COMPANY = "WARP Wholesale Telecom"
COMPANY_LINES = (
    "1200 Carrier Way, Suite 400",
    "Denver, CO 80202",
    "billing@warp.example  |  +1 303 555 0100",
)
PAYMENT_LINES = (
    "ACH / wire: WARP Wholesale Telecom, First Carrier Bank, routing 102000021, account 4455667788",
    "Please quote the invoice number as the payment reference.",
    "Card payments and statements: https://portal.warp.example/billing",
)
INK = (33, 37, 41)
MUTED = (108, 117, 125)
ACCENT = (13, 71, 161)
BAND = (232, 240, 254)
RULE = (206, 212, 218)

SECTION = {
    "VOICE": "Voice usage",
    "MESSAGING": "Messaging",
    "DID_MONTHLY": "Numbers",
    "SETUP": "One-time charges",
    "PORT": "One-time charges",
    "OTHER": "Other charges",
    "ADJUSTMENT": "Adjustments",
    "CREDIT": "Credits",
    "TAX": "Taxes and regulatory fees",
}


def money(value: Any, currency: str = "USD") -> str:
    amount = Decimal(value).quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else ""
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{symbol}{abs(amount):,.2f}"


_UNITS = {"MINUTE": "min", "SEGMENT": "seg", "MESSAGE": "msg", "DID": "no.", "DAY": "days"}


def _qty(item: dict[str, Any]) -> str:
    q = Decimal(item["quantity"])
    text = f"{q:,.0f}" if q == q.to_integral_value() else f"{q:,.2f}"
    unit = _UNITS.get(item.get("unit") or "", "")
    return f"{text} {unit}".strip()


def _rate(item: dict[str, Any]) -> str:
    rate = item.get("unit_rate")
    if rate is None:
        return ""
    if item["item_type"] == "TAX" and item.get("unit") == "EACH":
        return f"{(Decimal(rate) * 100).normalize():f}%"
    return f"{Decimal(rate).normalize():f}"


_PLAIN = str.maketrans({"\u2014": "-", "\u2013": "-", "\u00b7": "|", "\u2019": "'"})


def _latin(text: Any) -> str:
    s = str(text).translate(_PLAIN)
    return s.encode("latin-1", "replace").decode("latin-1")


class _Doc(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="Letter")
        self.doc_title = title
        self.set_margins(16, 16, 16)
        self.set_auto_page_break(True, margin=22)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, _latin(f"{COMPANY}  |  {self.doc_title}"), align="L")
        self.set_x(-40)
        self.cell(24, 5, f"Page {self.page_no()}/{{nb}}", align="R")


def render_pdf(invoice: dict[str, Any]) -> bytes:
    """A letter-size invoice: header, bill-to, period, summary, lines by section, taxes, totals, how to pay."""
    currency = invoice.get("currency") or "USD"
    number = invoice.get("invoice_number") or "DRAFT"
    account = invoice.get("account") or {}
    items = list(invoice.get("items") or [])
    pdf = _Doc(f"Invoice {number}")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    # Header band
    pdf.set_fill_color(*ACCENT)
    pdf.rect(0, 0, pdf.w, 30, style="F")
    pdf.set_xy(16, 9)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(width / 2, 8, "WARP")
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(width / 2, 8, "INVOICE" if invoice.get("status") != "DRAFT" else "DRAFT INVOICE", align="R")
    pdf.set_xy(16, 18)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(width / 2, 5, "Wholesale Telecom")
    pdf.cell(width / 2, 5, _latin(f"No. {number}"), align="R")

    # From / bill to / invoice facts
    pdf.set_text_color(*INK)
    top = 38
    col = width / 3
    blocks = [
        ("FROM", [COMPANY, *COMPANY_LINES]),
        (
            "BILL TO",
            [
                account.get("legal_name") or account.get("name") or "",
                f"Account {account.get('ban', '')}",
                f"{account.get('billing_state') or ''} {account.get('billing_country') or ''}".strip(),
                f"Tax ID {account['tax_id']}" if account.get("tax_id") else "",
            ],
        ),
        (
            "INVOICE",
            [
                f"Number: {number}",
                f"Period: {_d(invoice['period_start'])} to {_d(invoice['period_end'])}",
                f"Issued: {_d(invoice.get('issue_date'))}",
                f"Due: {_d(invoice.get('due_date'))}",
                f"Status: {invoice.get('status', '')}",
            ],
        ),
    ]
    for i, (label, lines) in enumerate(blocks):
        x = pdf.l_margin + i * col
        pdf.set_xy(x, top)
        pdf.set_font("Helvetica", "B", 8)
        pdf.set_text_color(*MUTED)
        pdf.cell(col - 4, 5, label)
        pdf.set_text_color(*INK)
        for j, line in enumerate(x for x in lines if x):
            pdf.set_xy(x, top + 6 + j * 4.6)
            pdf.set_font("Helvetica", "B" if j == 0 else "", 9)
            pdf.cell(col - 4, 4.6, _latin(line))

    # Summary box
    total = Decimal(invoice.get("total") or 0)
    paid = Decimal(invoice.get("paid_amount") or 0)
    y = top + 36
    pdf.set_fill_color(*BAND)
    pdf.rect(pdf.l_margin, y, width, 20, style="F")
    facts = [
        ("Subtotal", money(invoice.get("subtotal") or 0, currency)),
        ("Taxes and fees", money(invoice.get("tax_total") or 0, currency)),
        ("Total", money(total, currency)),
        ("Paid", money(paid, currency)),
        ("Amount due", money(total - paid, currency)),
    ]
    cw = width / len(facts)
    for i, (label, value) in enumerate(facts):
        pdf.set_xy(pdf.l_margin + i * cw, y + 3)
        pdf.set_font("Helvetica", "", 8)
        pdf.set_text_color(*MUTED)
        pdf.cell(cw, 5, label, align="C")
        pdf.set_xy(pdf.l_margin + i * cw, y + 9)
        pdf.set_font("Helvetica", "B", 12 if label != "Amount due" else 13)
        pdf.set_text_color(*(ACCENT if label == "Amount due" else INK))
        pdf.cell(cw, 7, value, align="C")
    pdf.set_text_color(*INK)
    pdf.set_y(y + 27)

    # Lines, grouped by section
    widths = (width * 0.50, width * 0.17, width * 0.15, width * 0.18)

    def head() -> None:
        pdf.set_font("Helvetica", "B", 8)
        pdf.set_text_color(*MUTED)
        for w, title, align in zip(
            widths, ("DESCRIPTION", "QUANTITY", "RATE", "AMOUNT"), "LRRR", strict=True
        ):
            pdf.cell(w, 6, title, align=align)
        pdf.ln(6)
        pdf.set_draw_color(*RULE)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
        pdf.set_text_color(*INK)

    head()
    order = ["VOICE", "MESSAGING", "DID_MONTHLY", "SETUP", "PORT", "OTHER", "ADJUSTMENT", "CREDIT", "TAX"]
    sections: dict[str, list[dict[str, Any]]] = {}
    for it in sorted(items, key=lambda r: order.index(r["item_type"]) if r["item_type"] in order else 99):
        sections.setdefault(SECTION.get(it["item_type"], "Other charges"), []).append(it)
    for title, rows in sections.items():
        if pdf.get_y() > pdf.h - 50:
            pdf.add_page()
            head()
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 9)
        pdf.set_text_color(*ACCENT)
        pdf.cell(width, 6, _latin(title))
        pdf.ln(6)
        pdf.set_text_color(*INK)
        pdf.set_font("Helvetica", "", 9)
        for k, it in enumerate(rows):
            if k % 2 == 1:
                pdf.set_fill_color(248, 249, 250)
            else:
                pdf.set_fill_color(255, 255, 255)
            pdf.cell(widths[0], 6, _latin(it["description"])[:80], fill=True)
            pdf.cell(widths[1], 6, _latin(_qty(it)), align="R", fill=True)
            pdf.cell(widths[2], 6, _rate(it), align="R", fill=True)
            pdf.cell(widths[3], 6, money(it["amount"], currency), align="R", fill=True)
            pdf.ln(6)
        subtotal = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(sum(widths[:3]), 6, _latin(f"{title} total"), align="R")
        pdf.cell(widths[3], 6, money(subtotal, currency), align="R")
        pdf.ln(7)

    # Totals
    if pdf.get_y() > pdf.h - 80:
        pdf.add_page()
    pdf.ln(2)
    pdf.set_draw_color(*RULE)
    pdf.line(pdf.l_margin + width * 0.55, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.ln(2)
    for label, value, bold in (
        ("Subtotal", money(invoice.get("subtotal") or 0, currency), False),
        ("Taxes and fees", money(invoice.get("tax_total") or 0, currency), False),
        ("Total", money(total, currency), True),
        ("Payments received", money(-paid, currency), False),
        ("Amount due", money(total - paid, currency), True),
    ):
        pdf.set_font("Helvetica", "B" if bold else "", 11 if bold else 10)
        pdf.set_text_color(*(ACCENT if label == "Amount due" else INK))
        pdf.set_x(pdf.l_margin + width * 0.55)
        pdf.cell(width * 0.25, 7, label)
        pdf.cell(width * 0.20, 7, value, align="R")
        pdf.ln(7)
    pdf.set_text_color(*INK)

    # Payment instructions
    pdf.ln(6)
    pdf.set_fill_color(*BAND)
    box = float(pdf.get_y())
    pdf.rect(pdf.l_margin, box, width, 8 + 5 * len(PAYMENT_LINES), style="F")
    pdf.set_xy(pdf.l_margin + 4, box + 3)
    pdf.set_font("Helvetica", "B", 9)
    due = _d(invoice.get("due_date"))
    pdf.cell(width - 8, 5, _latin(f"How to pay{' (due ' + due + ')' if due != '-' else ''}"))
    pdf.set_font("Helvetica", "", 8.5)
    for i, line in enumerate(PAYMENT_LINES):
        pdf.set_xy(pdf.l_margin + 4, box + 8 + i * 5)
        pdf.cell(width - 8, 5, _latin(line))
    return bytes(pdf.output())


def render_csv(invoice: dict[str, Any]) -> str:
    """The invoice lines as CSV (one row per line, then subtotal/tax/total rows)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "invoice_number",
            "period_start",
            "period_end",
            "item_type",
            "category",
            "description",
            "quantity",
            "unit",
            "unit_rate",
            "amount",
        ]
    )
    number = invoice.get("invoice_number") or ""
    start, end = _d(invoice["period_start"]), _d(invoice["period_end"])
    for it in invoice.get("items") or []:
        writer.writerow(
            [
                number,
                start,
                end,
                it["item_type"],
                it.get("category") or "",
                it["description"],
                it["quantity"],
                it.get("unit") or "",
                "" if it.get("unit_rate") is None else it["unit_rate"],
                it["amount"],
            ]
        )
    for label in ("subtotal", "tax_total", "total"):
        writer.writerow([number, start, end, label.upper(), "", label, "", "", "", invoice.get(label)])
    return out.getvalue()


def _d(value: date | None) -> str:
    return "-" if value is None else value.isoformat()
