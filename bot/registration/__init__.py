"""Registration (登记): invite links, the liaison's and lead's conversations, /contacts."""
