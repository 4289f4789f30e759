"""The site owner's dashboard: sessions, panels and the HTML they render to."""
