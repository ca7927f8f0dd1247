"""Activities: thin adapters from the workflows onto pricing/, policies/, store/ and templates/."""
