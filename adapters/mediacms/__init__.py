"""MediaCMS (mediacms-io/mediacms) as a catalog source, over its REST API (httpx)."""
