"""The config writer: ``[profile NAME]`` sections written into the AWS config file, safely.

Split by job: :mod:`.model` (the profile and its keys), :mod:`.ini` (pure text: parse as
botocore does, merge, verify), :mod:`.safe_io` (finding and opening the file without symlink
or owner tricks, the lock, the atomic replace) and :mod:`.files` (write_profiles and
read_profile, which join them). Standard library only: write-config runs at every container
start, so nothing here imports typing, dataclasses, botocore or urllib3.
"""
