"""Server-rendered pages in Dutch (login and consent of the authorization server)."""
