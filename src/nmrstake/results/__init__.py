"""A round's results: what the published folder is (`spec`), evaluating a round (`evaluate`),
publishing it (`publish`), reading it back and recomputing it (`read`), and where an operator
keeps a deployment's round files (`layout`). Import from the module that holds a thing."""
