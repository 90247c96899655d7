"""HandMotion for Blender: two-hand finger and wrist motion from prompts, in-betweens between keys,
captions and refinement, computed by the local HandMotion engine and written as ordinary F-curves."""

from . import jobs, operators, panels, preferences, properties

modules = (preferences, properties, operators, panels)


def register() -> None:
    for module in modules:
        module.register()


def unregister() -> None:
    jobs.unregister()
    for module in reversed(modules):
        module.unregister()
