// Module Generation.
