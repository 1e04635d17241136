"""Documents the secretariat sends: referral packets to protection mechanisms and sign-on letters, as HTML and PDF.

Pure rendering (no Kafka, no network): see streams/documents/pdf.py.
"""

from streams.documents.pdf import (
    DataOnlyFetcher, DocumentError, html_to_pdf, label, labels, render_letter_html, render_letter_pdf,
    render_referral_html, render_referral_pdf,
)

__all__ = [
    "DataOnlyFetcher", "DocumentError", "html_to_pdf", "label", "labels", "render_letter_html", "render_letter_pdf",
    "render_referral_html", "render_referral_pdf",
]
