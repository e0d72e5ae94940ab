"""The customer data hub: identities, upserts, importers and the snapshot export."""
