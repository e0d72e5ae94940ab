"""Importers: Olist layout, any store's CSV/Parquet with a mapping, generated stores."""
