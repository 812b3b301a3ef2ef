"""The kernel patch: which rule a finding calls for, where it goes in the era's file, how
it is escaped, and the mail around it. Pure text."""
