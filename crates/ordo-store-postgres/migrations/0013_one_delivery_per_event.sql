-- One delivery per (webhook, event): a fan-out that runs again after a
-- crash inserts nothing twice. Duplicates made before this constraint are
-- folded into one, keeping a delivered one where there is one.
DELETE FROM webhook_deliveries
 WHERE id IN (SELECT id
                FROM (SELECT id, row_number() OVER (PARTITION BY webhook_id, event_id
                                                        ORDER BY CASE status WHEN 'delivered' THEN 0 ELSE 1 END, id) AS rank
                        FROM webhook_deliveries) AS ranked
               WHERE rank > 1);

CREATE UNIQUE INDEX webhook_deliveries_event_key ON webhook_deliveries (webhook_id, event_id);
