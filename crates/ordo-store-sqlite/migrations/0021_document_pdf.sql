-- Invoices and credit notes as PDF, rendered when issued (NULL for those
-- issued before PDFs were: they are rendered when asked for).
ALTER TABLE invoices ADD COLUMN pdf BLOB;
ALTER TABLE credit_notes ADD COLUMN pdf BLOB;
