-- Data-quality flags of the reading each prediction follows: JSON {"flags": [{"sensor", "kind"}]}, NULL when clean.
ALTER TABLE predictions ADD COLUMN quality TEXT;
