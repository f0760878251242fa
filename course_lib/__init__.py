"""course_lib: the helpers behind the labs on choosing and adapting pre-trained vision models.

Notebooks teach; course_lib does. Modules: env, models, data, features, train, bench, cli.
"""
__version__ = "0.1.0"
