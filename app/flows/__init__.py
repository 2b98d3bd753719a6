"""Steps that join two domains, one module per step. Flows sit above every domain and below the
storefront, the CLI and app.main: they may import any domain; no domain imports them (see
docs/architecture.md, "Layers")."""
