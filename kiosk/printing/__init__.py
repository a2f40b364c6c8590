"""Kiosk printing: report PDFs with an embedded CJK font, ESC/POS queue tickets, printers.

Documents are plain frozen dataclasses (``documents``); renderers turn them into bytes
(``report_pdf``, ``ticket``) without I/O; adapters (``printers``, ``cups``) deliver the bytes
and say whether the printer confirmed the job.
"""
