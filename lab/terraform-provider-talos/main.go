// Command terraform-provider-talos is the lab's siderolabs/talos provider: the one resource users wire per
// node to configure a VM in the same apply that creates it, talos_machine_configuration_apply, with the
// schema and the apply behaviour of terraform-provider-talos v0.11.0
// (pkg/talos/talos_machine_configuration_apply_resource.go, util.go). Not served: the _wo attributes,
// on_destroy resets, staged_if_needing_reboot and the provider's data sources; the lab's repositories use
// none of them.
package main

import (
	"context"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
)

// version is what the lab's filesystem mirror calls this build (the real provider's release it follows).
const version = "0.11.0"

type talosProvider struct{}

func (p *talosProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "talos"
	resp.Version = version
}

// Schema: the real provider's one setting (provider.go); the lab downloads no images, so it is unused.
func (p *talosProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{Attributes: map[string]schema.Attribute{
		"image_factory_url": schema.StringAttribute{Optional: true},
	}}
}

func (p *talosProvider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

func (p *talosProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newConfigurationApply}
}

func (p *talosProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }

func main() {
	err := providerserver.Serve(context.Background(), func() provider.Provider { return &talosProvider{} },
		providerserver.ServeOpts{Address: "registry.terraform.io/siderolabs/talos"})
	if err != nil {
		log.Fatal(err)
	}
}
