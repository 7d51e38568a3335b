"""The generator's Blender side (bpy): scripts/render_synthetic.py."""
