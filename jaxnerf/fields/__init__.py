"""What a scene is made of: encodings, the hash grid, networks (MLPs and
heads), probing a field on a grid."""
