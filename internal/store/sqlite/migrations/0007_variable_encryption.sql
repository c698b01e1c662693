-- CI variable values are stored encrypted (AES-GCM, key outside the
-- database); rows written before carry their value in plaintext until the
-- coordinator encrypts them on start.
ALTER TABLE project_variables ADD COLUMN value_encrypted BOOLEAN NOT NULL DEFAULT 0;
