"""The acquisitions loop: reading lists against holdings, suggestions, request slips, purchase plans."""
