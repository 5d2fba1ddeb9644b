-- A settlement report's file lives on the file store now: each chunk is a
-- byte range of it (its body left empty). Chunks of runs imported before
-- keep their bytes here and no range.
ALTER TABLE settlement_chunks ADD COLUMN start_offset INTEGER;
ALTER TABLE settlement_chunks ADD COLUMN end_offset INTEGER;
