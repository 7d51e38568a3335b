"""What leaves the engine: meshes, point clouds, the WebGL page and the live
viewer (web/ holds their pages)."""
