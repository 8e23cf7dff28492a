# scripts/check-docker.sh: docker/compose.yaml validates and the Dockerfiles build through the
# same scripts as the README (install-deps.sh, switchyard.sh). No Docker engine needed.
add_test(NAME check_docker COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-docker.sh)
set_tests_properties(check_docker PROPERTIES LABELS unit TIMEOUT 120)
