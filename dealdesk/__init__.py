"""DealDesk: settings and entry points (the `dealdesk` CLI)."""
