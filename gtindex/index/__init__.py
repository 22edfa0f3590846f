"""The index directory on disk (see ARCHITECTURE.md for its files).

- generations.py: the live generation CURRENT names, publishing a new one, recovery
- lock.py: one writer at a time; read-only, forbidden and full disks told apart
- manifest.py: manifest.json (counts, checksums, recorded sources and exclusions)
- schema.py: the SQLite schema and every row gtindex writes; vector_row = id - 1
- layout.py: sentences' and passages' places as int32 arrays, for search
- catalogue.py: file names of indexed documents, and the one resolver of a name
- staging.py: StagedGeneration, the one way to write a new generation

Import the module you need: `from gtindex.index import generations`.
"""
