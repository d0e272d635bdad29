"""The eSMS voice API as documented, without the ORM: facts, requests, numbers, HTTP, masking."""
