"""Source files and URLs -> `Document` (the first stage of the pipeline).

- `ingest`: find source files, sniff their type, parse them in worker processes, collect errors.
- `pdf`: guidance PDF -> Document, a pipeline of named layout passes (pdfplumber underneath).
- `html`: web page -> Document (beautifulsoup4).
- `fetch`: download guidances from resource pages, URL lists or a mirror into the corpus.

Nothing here imports a later stage (passages, index, search).
"""
