package ci

import "slices"

// Failure reasons: GitLab CE's failure_reason enum (Enums::Ci::CommitStatus
// in app/models/concerns/enums/ci/commit_status.rb), one constant per value
// in declaration order.
const (
	FailureUnknown                                   = "unknown_failure"
	FailureScript                                    = "script_failure"
	FailureAPI                                       = "api_failure"
	FailureStuckOrTimeout                            = "stuck_or_timeout_failure"
	FailureRunnerSystem                              = "runner_system_failure"
	FailureMissingDependency                         = "missing_dependency_failure"
	FailureRunnerUnsupported                         = "runner_unsupported"
	FailureStaleSchedule                             = "stale_schedule"
	FailureJobExecutionTimeout                       = "job_execution_timeout"
	FailureArchived                                  = "archived_failure"
	FailureUnmetPrerequisites                        = "unmet_prerequisites"
	FailureScheduler                                 = "scheduler_failure"
	FailureDataIntegrity                             = "data_integrity_failure"
	FailureForwardDeploymentFailure                  = "forward_deployment_failure"
	FailureUserBlocked                               = "user_blocked"
	FailureProjectDeleted                            = "project_deleted"
	FailureCiQuotaExceeded                           = "ci_quota_exceeded"
	FailurePipelineLoopDetected                      = "pipeline_loop_detected"
	FailureNoMatchingRunner                          = "no_matching_runner"
	FailureTraceSizeExceeded                         = "trace_size_exceeded"
	FailureBuildsDisabled                            = "builds_disabled"
	FailureEnvironmentCreationFailure                = "environment_creation_failure"
	FailureDeploymentRejected                        = "deployment_rejected"
	FailureFailedOutdatedDeploymentJob               = "failed_outdated_deployment_job"
	FailureJobExecutionServerTimeout                 = "job_execution_server_timeout"
	FailureStuckPendingWithMatchingRunners           = "stuck_pending_with_matching_runners"
	FailureStuckPendingNoMatchingRunners             = "stuck_pending_no_matching_runners"
	FailureNoUpdatesRunning                          = "no_updates_running"
	FailureNoUpdatesCanceling                        = "no_updates_canceling"
	FailureServerTimeoutRunning                      = "server_timeout_running"
	FailureServerTimeoutCanceling                    = "server_timeout_canceling"
	FailureRunnerConfigurationError                  = "runner_configuration_error"
	FailureRunnerExternalDependencyFailure           = "runner_external_dependency_failure"
	FailureRunnerInterrupted                         = "runner_interrupted"
	FailureProtectedEnvironmentFailure               = "protected_environment_failure"
	FailureInsufficientBridgePermissions             = "insufficient_bridge_permissions"
	FailureDownstreamBridgeProjectNotFound           = "downstream_bridge_project_not_found"
	FailureInvalidBridgeTrigger                      = "invalid_bridge_trigger"
	FailureUpstreamBridgeProjectNotFound             = "upstream_bridge_project_not_found"
	FailureInsufficientUpstreamPermissions           = "insufficient_upstream_permissions"
	FailureBridgePipelineIsChildPipeline             = "bridge_pipeline_is_child_pipeline"
	FailureDownstreamPipelineCreation                = "downstream_pipeline_creation_failed"
	FailureSecretsProviderNotFound                   = "secrets_provider_not_found"
	FailureReachedMaxDescendantDepth                 = "reached_max_descendant_pipelines_depth"
	FailureIpRestrictionFailure                      = "ip_restriction_failure"
	FailureReachedMaxHierarchySize                   = "reached_max_pipeline_hierarchy_size"
	FailureReachedDownstreamPipelineTriggerRateLimit = "reached_downstream_pipeline_trigger_rate_limit"
	FailureDuoWorkflowNotAllowed                     = "duo_workflow_not_allowed"
	FailureJobRouterFailure                          = "job_router_failure"
	FailureJobTokenExpired                           = "job_token_expired"
	FailureIdTokenBurnedProjectPath                  = "id_token_burned_project_path"
	FailureDownstreamProjectTriggerResolvedToEmpty   = "downstream_project_trigger_resolved_to_empty"
)

// FailureReasons lists the enum in declaration order. The runner payload
// advertises it, so the order and spelling matter.
var FailureReasons = []string{
	FailureUnknown,
	FailureScript,
	FailureAPI,
	FailureStuckOrTimeout,
	FailureRunnerSystem,
	FailureMissingDependency,
	FailureRunnerUnsupported,
	FailureStaleSchedule,
	FailureJobExecutionTimeout,
	FailureArchived,
	FailureUnmetPrerequisites,
	FailureScheduler,
	FailureDataIntegrity,
	FailureForwardDeploymentFailure,
	FailureUserBlocked,
	FailureProjectDeleted,
	FailureCiQuotaExceeded,
	FailurePipelineLoopDetected,
	FailureNoMatchingRunner,
	FailureTraceSizeExceeded,
	FailureBuildsDisabled,
	FailureEnvironmentCreationFailure,
	FailureDeploymentRejected,
	FailureFailedOutdatedDeploymentJob,
	FailureJobExecutionServerTimeout,
	FailureStuckPendingWithMatchingRunners,
	FailureStuckPendingNoMatchingRunners,
	FailureNoUpdatesRunning,
	FailureNoUpdatesCanceling,
	FailureServerTimeoutRunning,
	FailureServerTimeoutCanceling,
	FailureRunnerConfigurationError,
	FailureRunnerExternalDependencyFailure,
	FailureRunnerInterrupted,
	FailureProtectedEnvironmentFailure,
	FailureInsufficientBridgePermissions,
	FailureDownstreamBridgeProjectNotFound,
	FailureInvalidBridgeTrigger,
	FailureUpstreamBridgeProjectNotFound,
	FailureInsufficientUpstreamPermissions,
	FailureBridgePipelineIsChildPipeline,
	FailureDownstreamPipelineCreation,
	FailureSecretsProviderNotFound,
	FailureReachedMaxDescendantDepth,
	FailureIpRestrictionFailure,
	FailureReachedMaxHierarchySize,
	FailureReachedDownstreamPipelineTriggerRateLimit,
	FailureDuoWorkflowNotAllowed,
	FailureJobRouterFailure,
	FailureJobTokenExpired,
	FailureIdTokenBurnedProjectPath,
	FailureDownstreamProjectTriggerResolvedToEmpty,
}

// NormalizeFailureReason maps a reported reason outside the enum
// (job_canceled, which gitlab-runner 14.10 reports for a canceled job, or
// anything newer) to unknown_failure, as the enum would refuse it; "" stays.
func NormalizeFailureReason(reason string) string {
	if reason == "" || slices.Contains(FailureReasons, reason) {
		return reason
	}
	return FailureUnknown
}
