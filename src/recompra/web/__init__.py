"""The web dashboard: server-rendered pages (Jinja2), inline SVG charts, no CDN."""
