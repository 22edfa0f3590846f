"""gtindex: citation-precise search over FDA guidance PDFs and resource pages."""

__version__ = "0.1.0"
