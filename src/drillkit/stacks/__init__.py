"""What drillkit knows about each reference stack: how to read its ground truth after a drill."""
