"""Operations: backups and restores, metrics, structured logs without personal data."""
