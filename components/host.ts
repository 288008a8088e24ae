/**
 * Host: the machine a node runs on. `aws` creates an EC2 instance with its own encrypted gp3 data volume,
 * a security group that opens P2P and the gateway only, a key pair and an Elastic IP; `existing` takes a
 * server the operator already has. Either way the rest of ethnode sees one `connection` and a `ready` step.
 */
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { GatewayConfig, HostConfig, nodeAddress, nodeSubnet } from "./config";
import { Connection, PRELUDE_DIR, bootstrapStep } from "./remote";
import { p2pRules } from "./roles";
import { ClientRole } from "./client";
import { render, shq } from "./render";

/** Canonical's AWS account, owner of the official Ubuntu AMIs. */
export const CANONICAL_OWNER_ID = "099720109477";
export const UBUNTU_2204_AMI_NAME = "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*";


export interface HostArgs {
    host: HostConfig;
    gateway: Pick<GatewayConfig, "port" | "allowedCidrs" | "metricsPort">;
    sshPrivateKey: pulumi.Input<string>;
    /** The node's consensus client, whose P2P ports are opened; undefined on dev (geth --dev has none). */
    consensus?: ClientRole;
    /** `monitor`: a separate monitoring host — SSH only, no P2P, no gateway. Default `node`. */
    role?: "node" | "monitor";
    /** A node's metrics port (the gateway's) is opened to this security group only: the monitoring host's. */
    metricsFromSecurityGroupId?: pulumi.Input<string>;
    /** Which of the stack's nodes this host is: picks its subnet (aws) or its address (existing). Default 0. */
    index?: number;
    /** The security group every node of a cluster shares (aws, several nodes), added to the host's own. */
    clusterSecurityGroupId?: pulumi.Input<string>;
    /** A monitoring host with central logs receives the nodes' journals on this port, from its VPC only. */
    logsPort?: number;
}

export class Host extends pulumi.ComponentResource {
    /** How every later component reaches this host. Carries the private key: secret. */
    public readonly connection: pulumi.Output<Connection>;
    public readonly publicIp: pulumi.Output<string>;
    public readonly dataDir: string;
    /** The preparation step; later steps depend on it. */
    public readonly ready: command.remote.Command;
    public readonly sshCommand: pulumi.Output<string>;
    /** The EBS data volume's id on aws, "" otherwise. */
    public readonly volumeId: pulumi.Output<string>;
    /** Where other hosts of the stack reach this one (the VPC address on aws). */
    public readonly privateAddress: pulumi.Output<string>;
    /** The security group on aws, "" otherwise. */
    public readonly securityGroupId: pulumi.Output<string>;
    /** The EC2 instance's id on aws, "" otherwise. */
    public readonly instanceId: pulumi.Output<string>;

    constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:host:Host", name, {}, opts);
        const h = args.host;
        this.dataDir = h.dataDir;

        let address: pulumi.Output<string>;
        let volumeId: pulumi.Output<string>;
        let dependsOn: pulumi.Resource[] = [];
        if (h.provider === "aws") {
            const vm = this.createVm(name, args);
            address = vm.eip.publicIp;
            volumeId = vm.volume.id;
            this.privateAddress = vm.instance.privateIp;
            this.securityGroupId = vm.sg.id;
            this.instanceId = vm.instance.id;
            dependsOn = [vm.attachment, vm.eipAssociation];
        } else {
            address = pulumi.output(nodeAddress(h, args.index ?? 0) as string);
            volumeId = pulumi.output("");
            this.privateAddress = address;
            this.securityGroupId = pulumi.output("");
            this.instanceId = pulumi.output("");
        }
        this.publicIp = address;
        this.volumeId = volumeId;

        this.connection = pulumi.secret(
            pulumi.all([address, args.sshPrivateKey]).apply(([host, privateKey]) => ({
                host,
                port: h.port,
                user: h.user,
                privateKey,
                dialErrorLimit: 30,
                perDialTimeout: 20,
            })),
        );

        this.ready = this.prepare(name, volumeId, args, dependsOn);

        this.sshCommand = pulumi.interpolate`ssh -p ${h.port} ${h.user}@${address}`;
        this.registerOutputs({ publicIp: this.publicIp, sshCommand: this.sshCommand });
    }

    private prepare(name: string, volumeId: pulumi.Output<string>, args: HostArgs, dependsOn: pulumi.Resource[]) {
        return bootstrapStep(
            `${name}-prepare`,
            {
                connection: this.connection,
                // The volume id is known only once AWS created it.
                script: volumeId.apply((id) =>
                    render("scripts/prepare-host.sh", { dataDir: shq(args.host.dataDir), volumeId: shq(id) }),
                ),
                deleteScript: render("scripts/cleanup-host.sh", {
                    purge: shq(String(args.host.purgeOnDestroy)),
                    dataDir: shq(args.host.dataDir),
                    preludeDir: shq(PRELUDE_DIR),
                }),
            },
            { parent: this, dependsOn },
        );
    }

    private createVm(name: string, args: HostArgs) {
        const h = args.host;
        const ami = aws.ec2.getAmiOutput(
            {
                owners: [CANONICAL_OWNER_ID],
                mostRecent: true,
                filters: [
                    { name: "name", values: [UBUNTU_2204_AMI_NAME] },
                    { name: "virtualization-type", values: ["hvm"] },
                    { name: "architecture", values: ["x86_64"] },
                ],
            },
            { parent: this },
        );
        const node = args.role !== "monitor";
        // Ports the internet may reach: the clients' P2P. RPC, metrics and dashboards never.
        const p2p = node ? p2pRules(args.consensus) : [];
        const sg = new aws.ec2.SecurityGroup(
            `${name}-sg`,
            {
                description: node ? "ethnode: P2P, JSON-RPC gateway and SSH only" : "ethnode monitoring: SSH only",
                ingress: [
                    ...p2p.map((r) => ({
                        protocol: r.protocol,
                        fromPort: r.port,
                        toPort: r.port,
                        cidrBlocks: ["0.0.0.0/0"],
                        description: r.description,
                    })),
                    ...(node
                        ? [
                              {
                                  protocol: "tcp",
                                  fromPort: args.gateway.port,
                                  toPort: args.gateway.port,
                                  cidrBlocks: args.gateway.allowedCidrs,
                                  description: "json-rpc gateway",
                              },
                          ]
                        : []),
                    ...(node && args.metricsFromSecurityGroupId
                        ? [
                              {
                                  protocol: "tcp",
                                  fromPort: args.gateway.metricsPort,
                                  toPort: args.gateway.metricsPort,
                                  securityGroups: [args.metricsFromSecurityGroupId],
                                  description: "metrics, from the monitoring host only",
                              },
                          ]
                        : []),
                    ...(!node && args.logsPort !== undefined
                        ? [
                              {
                                  protocol: "tcp",
                                  fromPort: args.logsPort,
                                  toPort: args.logsPort,
                                  // The nodes' groups are created after this one; VictoriaLogs' unit admits their addresses only.
                                  cidrBlocks: [aws.ec2.getVpcOutput(h.vpcId ? { id: h.vpcId } : { default: true }, { parent: this }).cidrBlock],
                                  description: "journal upload, from the nodes in the VPC",
                              },
                          ]
                        : []),
                    { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: h.sshAllowedCidrs, description: "ssh" },
                ],
                egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "all" }],
                vpcId: h.vpcId,
                tags: { Name: `${name}-sg`, "ethnode:role": args.role ?? "node" },
            },
            { parent: this },
        );
        const keyPair = new aws.ec2.KeyPair(`${name}-key`, { publicKey: h.sshPublicKey as string }, { parent: this });
        const instance = new aws.ec2.Instance(
            `${name}-vm`,
            {
                ami: ami.id,
                instanceType: h.instanceType,
                keyName: keyPair.keyName,
                vpcSecurityGroupIds: args.clusterSecurityGroupId ? [sg.id, args.clusterSecurityGroupId] : [sg.id],
                subnetId: nodeSubnet(h, args.index ?? 0),
                rootBlockDevice: { volumeSize: h.rootVolumeGb, volumeType: "gp3", encrypted: true },
                // IMDSv2 only: a request forgery through the node cannot read instance credentials.
                metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
                tags: { Name: name, "ethnode:role": args.role ?? "node" },
            },
            { parent: this },
        );
        const volume = new aws.ebs.Volume(
            `${name}-data`,
            {
                availabilityZone: instance.availabilityZone,
                size: h.dataVolumeGb,
                type: "gp3",
                iops: h.dataVolumeIops,
                throughput: h.dataVolumeThroughput,
                encrypted: true,
                tags: { Name: `${name}-data`, "ethnode:role": "chain-data" },
            },
            // Chain data outlives the instance; deleting it by accident costs days of resync.
            { parent: this, protect: !h.purgeOnDestroy },
        );
        const attachment = new aws.ec2.VolumeAttachment(
            `${name}-data-attach`,
            { deviceName: "/dev/sdf", volumeId: volume.id, instanceId: instance.id, stopInstanceBeforeDetaching: true },
            { parent: this },
        );
        const eip = new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", tags: { Name: `${name}-eip` } }, { parent: this });
        const eipAssociation = new aws.ec2.EipAssociation(
            `${name}-eip-assoc`,
            { instanceId: instance.id, allocationId: eip.allocationId },
            { parent: this },
        );
        return { sg, instance, volume, attachment, eip, eipAssociation };
    }
}
