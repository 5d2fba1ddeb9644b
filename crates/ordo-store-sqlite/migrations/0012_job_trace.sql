-- The W3C traceparent of the work that enqueued a job, so its run joins
-- that trace.
ALTER TABLE jobs ADD COLUMN trace_parent TEXT;
